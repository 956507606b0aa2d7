"""anyrack: bare-metal GPU racks from any vendor, from power-off to a validated Slurm cluster."""

__version__ = "0.1.0"
