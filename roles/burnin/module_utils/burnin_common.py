"""What the burn-in modules share: the Slurm reason of a failed level, the line of a tool's output that
says why it gave no result, and where to look for a tool.

Imported by the modules as ``ansible.module_utils.burnin_common``: Ansible finds it in the role's
module_utils/ and ships it with each module (outside the role, put this directory on ANSIBLE_MODULE_UTILS).
"""

from __future__ import annotations


def slurm_reason(results, level):
    """The Slurm node reason for the first failed check of ``level``, or None when every check passed.

    Slurm keeps reasons short: cut at 120 characters.

    >>> slurm_reason([{"name": "gpu_count", "ok": False, "detail": "7 of 8 GPUs"}], 1)
    'anyrack: burn-in L1 gpu_count: 7 of 8 GPUs'
    """
    failed = [r for r in results if not r["ok"]]
    return f"anyrack: burn-in L{level} {failed[0]['name']}: {failed[0]['detail']}"[:120] if failed else None


def first_line(*texts):
    """The first non-blank line (stripped, at most 200 characters) of the first text that has one.

    >>> first_line("", "\\n  nv-hostengine is not running\\nmore")
    'nv-hostengine is not running'
    >>> first_line(None, "  ")
    'no output'
    """
    for text in texts:
        for line in (text or "").splitlines():
            if line.strip():
                return line.strip()[:200]
    return "no output"


def find_tool(module, name, dirs):
    """The path of the tool ``name`` (a name on PATH, in ``dirs``, or a path), or None when it is not
    installed or ``name`` is empty."""
    return module.get_bin_path(name, opt_dirs=dirs) if name else None
