// Timers work (setTimeout), and sleeping is cut by the timeout like busy work.
let ticks = 0;
const tick = () => {
  ticks += 1;
  console.log("tick", ticks);
  if (ticks < 3) setTimeout(tick, 100);
};
setTimeout(tick, 100);
