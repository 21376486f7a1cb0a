"""The formats stage: what pip and the packaging PEPs define, as pure code.

Filenames, targets (tags, markers), file selection, index pages, core
metadata, archives, requirements files, project files and lock files
(requirements and PEP 751). No network and no threads; the file system
only where the caller or a format names a file (an archive, a ``-r``
include, a find-links directory).

Interface: functions from bytes or text (and a ``Target``) to frozen
values and back, raising ``BundlerError`` subclasses that name every problem.
"""
