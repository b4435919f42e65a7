"""The one exception the package raises for bad data or bad arguments."""


class DataError(ValueError):
    """Bad input: a missing, corrupt or malformed file, or an impossible setting.

    The message is one line that names the file, line or value at fault, so the
    CLI can print it as it is.
    """
