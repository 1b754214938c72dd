# Hits the output cap: prints far more than the policy keeps.
for i in range(200_000):
    print(f"line {i}: " + "x" * 60)
