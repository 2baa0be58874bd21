"""The bottom layer: reading TFRecords, folder locks, code versions, and the one module touching TFX internals.

Imports no other package of this repository; every other package may import it.
"""
