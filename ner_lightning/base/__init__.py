"""The bottom layer: helpers every other layer may import (it imports nothing of the package but ``errors``)."""
