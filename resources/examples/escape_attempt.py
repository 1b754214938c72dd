# Tries to read host files and the network: the sandbox shows none of them.
import os
import socket

for path in ["/etc/passwd", "/app/../../etc/passwd", os.path.expanduser("~/.ssh/id_rsa")]:
    try:
        with open(path) as f:
            f.read()
        print("read", path)
    except OSError as exc:
        print("refused", path, "-", exc.strerror)
print("environment:", dict(os.environ))
socket.create_connection(("example.com", 80))
