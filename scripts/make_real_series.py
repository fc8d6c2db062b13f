#!/usr/bin/env python3
"""Writes the real series shipped in data/series/ from the datasets Debian's python3-statsmodels
carries (all public domain; sources in data/series/README.md).

    apt-get install -y python3-statsmodels && /usr/bin/python3 scripts/make_real_series.py

- sunspots.csv: yearly mean sunspot numbers, 1700-2008 (309 values), columns year,sunactivity.
- co2_monthly.csv: Mauna Loa CO2 (ppm), monthly means of the weekly flask samples, March 1958 to
  December 2001; a month without any sample is left empty (a missing value).
- elec_equip.csv: euro-area manufacture of electrical equipment, monthly index, January 1995 to May 2016 (257 values).
"""
import csv
import os
import statistics
import statsmodels.datasets as ds

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "data", "series")
src = os.path.dirname(ds.__file__)


def rows(name, file):
    with open(os.path.join(src, name, file), newline="") as f:
        return list(csv.reader(f))


def write(file, header, body):
    with open(os.path.join(out, file), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(body)


r = rows("sunspots", "sunspots.csv")
write("sunspots.csv", ["year", "sunactivity"], [[int(float(y)), v] for y, v in r[1:]])

months = {}
for d, v in rows("co2", "co2.csv")[1:]:
    key = (int(d[:4]), int(d[4:6]))
    months.setdefault(key, [])
    if v.strip():
        months[key].append(float(v))
first, last = min(months), max(months)
body = []
y, m = first
while (y, m) <= last:
    vals = months.get((y, m), [])
    body.append([f"{y:04d}-{m:02d}", f"{statistics.fmean(vals):.2f}" if vals else ""])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
write("co2_monthly.csv", ["month", "co2"], body)

r = rows("elec_equip", "elec_equip.csv")
names = {n: i + 1 for i, n in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
body = []
for d, v in r[1:]:
    mon, _, year = d.split("-")
    body.append([f"{int(year):04d}-{names[mon]:02d}", v])
write("elec_equip.csv", ["month", "index"], body)
