# Order-0 entropy per byte plane (1 Mi-element chunks) of three delta transforms of a
# safetensors pair: arithmetic (method 1), XOR, zigzag of the arithmetic delta (method 9).
# /usr/bin/python3 bench/lossless_planes.py BASE.safetensors FT.safetensors [NAME_SUBSTRING...]
import json, struct, sys, numpy as np
def load(path):
    with open(path,'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; hdr = json.loads(f.read(n)); off = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode='r')
    out = {}
    for k, v in hdr.items():
        if k == '__metadata__': continue
        a, b = v['data_offsets']
        out[k] = (v['dtype'], v['shape'], mm[off+a:off+b])
    return out
def H(plane, chunk=1<<20):
    bits = 0.0
    for i in range(0, plane.size, chunk):
        c = np.bincount(plane[i:i+chunk], minlength=256).astype(np.float64)
        p = c[c>0] / c.sum(); bits += -(c[c>0] * np.log2(p)).sum()
    return bits / 8
def planes(u, w):
    return [((u >> (8*k)) & 0xff).astype(np.uint8) for k in range(w)]
def measure(base, ft, names=None):
    B, F = load(base), load(ft)
    tot = {}
    for k, (dt, shape, fb) in F.items():
        if names and not any(s in k for s in names): continue
        if k not in B or dt not in ('F16','BF16','F32'): continue
        w = 4 if dt == 'F32' else 2
        ut = np.uint32 if w == 4 else np.uint16; st = np.int32 if w == 4 else np.int16
        b = B[k][2].view(ut); f = fb.view(ut)
        d = (f - b).astype(ut)
        x = (f ^ b)
        s = d.view(st).astype(np.int64); z = np.where(s < 0, -2*s-1, 2*s).astype(ut)
        row = {}
        for name, u in (('arith', d), ('xor', x), ('zigzag', z)):
            row[name] = [H(p) for p in planes(u, w)]
        print(k, dt, fb.size, {n: [round(v) for v in r] + [round(sum(r))] for n, r in row.items()}, flush=True)
        for n, r in row.items(): tot[n] = tot.get(n, 0) + sum(r)
        tot['raw'] = tot.get('raw', 0) + fb.size
    print('TOTAL', {n: round(v) for n, v in tot.items()})
if __name__ == '__main__':
    measure(sys.argv[1], sys.argv[2], sys.argv[3:] or None)
