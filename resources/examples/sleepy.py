# Hits the wall-clock timeout: sleeping costs no fuel, so only the timeout ends it.
import time

print("sleeping for 10 minutes...", flush=True)
time.sleep(600)
