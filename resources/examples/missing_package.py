# LLM code often reaches for numpy; the guidance explains what works instead.
import numpy as np

print(np.mean([1, 2, 3]))
