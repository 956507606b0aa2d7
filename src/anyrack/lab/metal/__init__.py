"""The metal lab: QEMU VMs under libvirt (and Vagrant), blank machines behind emulated BMCs, booted
over the network and deployed by ``anyrack deploy``."""
