#!/usr/bin/env python3
# Compares two `awqx quantize` logs (per-layer group reports): how many scale choices agree and
# how many rows each clip search clipped. Usage: compare_search_logs.py A.log B.log
import re,sys
def parse(f):
    d={}
    for l in open(f):
        m=re.match(r'\s+layer (\d+) (\S+)\s+(ratio \d+|identity\S*|skipped)\s.*clip (.*)$', l)
        if m: d[(int(m.group(1)),m.group(2))]=(m.group(3), m.group(4).strip())
    return d
a,b=parse(sys.argv[1]),parse(sys.argv[2])
same=sum(1 for k in a if a[k][0]==b[k][0] and a[k][0]!='skipped'); tot=sum(1 for k in a if a[k][0]!='skipped')
print(f"scale choices equal: {same}/{tot}", [ (k,a[k][0],b[k][0]) for k in a if a[k][0]!=b[k][0]])
def nums(s): return [int(x) for x in re.findall(r'(\d+)/\d+', s)]
diffs=[ (x-y) for k in a for x,y in zip(nums(a[k][1]),nums(b[k][1]))]
tot_rows=sum(int(x) for k in a for x in re.findall(r'\d+/(\d+)', a[k][1]))
print(f"clipped rows: fp32 {sum(sum(nums(a[k][1])) for k in a)} bf16 {sum(sum(nums(b[k][1])) for k in a)} of {tot_rows}; max |diff| per linear {max(abs(d) for d in diffs)}")
