"""Firmware across vendors: the inventory per component (kinds) and updates through Redfish UpdateService."""
