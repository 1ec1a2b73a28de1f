"""The model store and its safety: versions, the champion, member files, integrity, locks, tree checks."""
