"""The ESPnet2 task layer (the only part of the package, with the entry points, that imports
espnet2)."""

from .offline import disable_import_time_downloads

disable_import_time_downloads()
