"""Checks that gapmap's and a peer's walking distances agree to 0.01 m on every estate × kind the
peer computed (both empty, or both within 0.01 m). Exit status 1 on disagreement.

usage: compare_distances.py GAPMAP_CSV PEER_CSV
"""
import sys

import numpy as np
import pandas as pd

a = pd.read_csv(sys.argv[1], dtype={"estate_id": str}, usecols=["estate_id", "kind", "distance_m"])
b = pd.read_csv(sys.argv[2], dtype={"estate_id": str}, usecols=["estate_id", "kind", "distance_m"])
a = a[a["kind"].isin(set(b["kind"]))]
m = a.merge(b, on=["estate_id", "kind"], suffixes=("_g", "_p"), how="outer", indicator=True)
unmatched = int((m["_merge"] != "both").sum())
both_nan = m["distance_m_g"].isna() & m["distance_m_p"].isna()
diff = (m["distance_m_g"] - m["distance_m_p"]).abs()
bad = ~both_nan & ~(diff <= 0.01)
print(f"rows: gapmap {len(a)}, peer {len(b)}, unmatched {unmatched}; unreachable in both {int(both_nan.sum())}")
print(f"max |distance difference| = {np.nanmax(diff.to_numpy()) if diff.notna().any() else 0:.6f} m; mismatches > 0.01 m: {int(bad.sum())}")
if bad.any() or unmatched:
    print(m[bad].head(20).to_string())
    sys.exit(1)
