"""What the operator owns: the site file, read into a frozen, checked model."""

from anyrack.site.load import load_site
from anyrack.site.model import Bmc, Credential, Node, Partition, Rack, SecretRef, Site, Sku

__all__ = ["Bmc", "Credential", "Node", "Partition", "Rack", "SecretRef", "Site", "Sku", "load_site"]
