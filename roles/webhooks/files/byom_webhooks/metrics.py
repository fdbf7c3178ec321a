"""Prometheus text exposition (format 0.0.4) without a client library."""

import threading

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# ended calls by endedReason: Vapi defines ~630 values; a cap keeps a broken sender from
# exploding the series count.
MAX_SERIES_PER_METRIC = 1000


def _esc(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names, values):
    if not names:
        return ""
    return "{" + ",".join('%s="%s"' % (n, _esc(v)) for n, v in zip(names, values)) + "}"


class Registry(object):
    def __init__(self):
        self._lock = threading.Lock()
        self._counters = {}   # name -> (help, labelnames, {labelvalues: value})
        self._hists = {}      # name -> (help, labelnames, {labelvalues: [bucket counts..., sum, count]})

    def counter(self, name, help_text, labelnames=()):
        self._counters.setdefault(name, (help_text, tuple(labelnames), {}))

    def histogram(self, name, help_text, labelnames=()):
        self._hists.setdefault(name, (help_text, tuple(labelnames), {}))

    def inc(self, name, labels=(), amount=1):
        series = self._counters[name][2]
        labels = tuple(labels)
        with self._lock:
            if labels not in series and len(series) >= MAX_SERIES_PER_METRIC:
                labels = tuple("other" for dummy in labels)
            series[labels] = series.get(labels, 0) + amount

    def observe(self, name, value, labels=()):
        series = self._hists[name][2]
        labels = tuple(labels)
        with self._lock:
            row = series.get(labels)
            if row is None:
                row = series[labels] = [0] * (len(BUCKETS) + 2)
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    row[i] += 1
            row[-2] += value
            row[-1] += 1

    def value(self, name, labels=()):
        return self._counters[name][2].get(tuple(labels), 0)

    def render(self, extra_counters=(), gauges=()):
        """Text format; `extra_counters`/`gauges`: (name, help, labelnames, {labelvalues: value})."""
        out = []
        with self._lock:
            for name, (help_text, names, series) in sorted(self._counters.items()):
                out.append("# HELP %s %s\n# TYPE %s counter\n" % (name, help_text, name))
                for values, val in sorted(series.items()):
                    out.append("%s%s %s\n" % (name, _labels(names, values), val))
            for name, (help_text, names, series) in sorted(self._hists.items()):
                out.append("# HELP %s %s\n# TYPE %s histogram\n" % (name, help_text, name))
                for values, row in sorted(series.items()):
                    for i, bound in enumerate(BUCKETS):
                        out.append("%s_bucket%s %d\n" % (name, _labels(names + ("le",), values + (repr(bound),)), row[i]))
                    out.append("%s_bucket%s %d\n" % (name, _labels(names + ("le",), values + ("+Inf",)), row[-1]))
                    out.append("%s_sum%s %.6f\n" % (name, _labels(names, values), row[-2]))
                    out.append("%s_count%s %d\n" % (name, _labels(names, values), row[-1]))
        for kind, rows in (("counter", extra_counters), ("gauge", gauges)):
            for name, help_text, names, series in rows:
                out.append("# HELP %s %s\n# TYPE %s %s\n" % (name, help_text, name, kind))
                for values, val in sorted(series.items()):
                    out.append("%s%s %s\n" % (name, _labels(names, values), val))
        return "".join(out)
