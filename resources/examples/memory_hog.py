# Hits the memory limit: keeps every chunk it makes.
chunks = []
while True:
    chunks.append(bytearray(10 * 1024 * 1024))
