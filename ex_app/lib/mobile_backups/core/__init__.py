"""The pure core: what a media file says, when it was taken, where it goes. No I/O, no web."""
