"""Run DMTF's redfish-use-case-checkers against one service and print every result as JSON lines.

The tool's console script writes HTML and XLSX reports only; this calls the same use cases (as its
``main`` does) and prints ``{"category", "test", "operation", "result", "message"}`` per result, for
tests/bmc/test_dmtf_checkers.py. Usage: ``python use_case_runner.py URL USER PASSWORD LOGFILE``.
"""

from __future__ import annotations

import json
import sys

import redfish
from redfish_use_case_checkers import (
    account_management,
    boot_override,
    logger,
    manager_ethernet_interfaces,
    power_control,
    query_parameters,
)
from redfish_use_case_checkers.system_under_test import SystemUnderTest


def main(url: str, user: str, password: str, log_file: str) -> None:
    logger.logger = redfish.redfish_logger(log_file, "%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    sut = SystemUnderTest(url, user, password, False)
    for module in (account_management, power_control, boot_override, manager_ethernet_interfaces, query_parameters):
        module.use_cases(sut)
    sut.logout()
    for category in sut._results:
        for test in category["Tests"]:
            for result in test["Results"]:
                print(json.dumps({"category": category["Category"], "test": test["Name"],
                                  "operation": result["Operation"], "result": result["Result"],
                                  "message": result.get("Message", "")}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
