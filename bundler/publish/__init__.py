"""``bundle publish``: carry a verified bundle into the index people install
from (a directory, an upload API, devpi, S3) without ever replacing bytes."""
