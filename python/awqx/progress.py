"""Default progress display for quantize(): one text bar on stderr, like AutoAWQ's tqdm."""
import sys
import time


def _fmt_time(s):
    t = int(s + 0.5)
    return "%d:%02d" % (t // 60, t % 60)


class TextBar:
    """Callable progress sink: bar(p) with p the dict quantize_model passes per layer."""

    def __init__(self, desc="AWQ", stream=None, width=30):
        self.desc = desc
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()

    def __call__(self, p):
        n, done = p["n_layers"], p["layer"]
        fill = self.width * done // n if n else self.width
        bar = "#" * fill + "." * (self.width - fill)
        loss = "%.3g" % p["loss"] if p["loss"] >= 0 else "-"
        line = "%s [%s] %d/%d  elapsed %s  ETA %s  loss %s%s" % (
            self.desc, bar, done, n, _fmt_time(p["elapsed_s"]), _fmt_time(p["eta_s"]), loss,
            "  (resumed)" if p["resumed"] else "")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if done == n else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
