"""What Linux says about this machine's CPU, for the rules that were
measured per CPU (which products and which compiler run faster)."""

import functools


@functools.cache
def cpu_field(name, cpuinfo="/proc/cpuinfo"):
    """The first value of `name` (e.g. "flags", "vendor_id") in Linux's
    `/proc/cpuinfo`, or None where it cannot be read (another system)."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def lacks_amx(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU is known to have no AMX: Linux lists its flags
    without `amx_tile` (False where they cannot be read)."""
    flags = cpu_field("flags", cpuinfo)
    return flags is not None and "amx_tile" not in flags.split()


def is_amd(cpuinfo="/proc/cpuinfo"):
    """Whether Linux names AMD as this CPU's vendor."""
    return cpu_field("vendor_id", cpuinfo) == "AuthenticAMD"
