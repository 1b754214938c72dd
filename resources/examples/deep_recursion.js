// Hits the stack: recursion with no base case.
function depth(n) {
  return depth(n + 1) + 1;
}
console.log(depth(0));
