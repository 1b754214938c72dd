# Hits the fuel limit: a loop whose condition never becomes false.
count = 0
while count >= 0:
    count += 1
