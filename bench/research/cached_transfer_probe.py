"""Transfer research: Lite0, cache the frozen bottom's activations at size R (with flips), probe + fine-tune top k blocks."""
import sys, time, math, json, argparse, os
from pathlib import Path
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from shared.backbones import torch_backbones as tb
p = argparse.ArgumentParser()
p.add_argument('--size', type=int, default=128); p.add_argument('--top', type=int, default=3)
p.add_argument('--train-limit', type=int, default=0); p.add_argument('--test-limit', type=int, default=10000)
p.add_argument('--epochs', type=float, default=0); p.add_argument('--lr', type=float, default=1e-3)
p.add_argument('--head-lr', type=float, default=0); p.add_argument('--wd', type=float, default=0.05)
p.add_argument('--bs', type=int, default=128); p.add_argument('--ls', type=float, default=0.1)
p.add_argument('--threads', type=int, default=2); p.add_argument('--bn-train', type=int, default=0)
p.add_argument('--probe-only', action='store_true'); p.add_argument('--seed', type=int, default=0)
p.add_argument('--fp32', action='store_true'); p.add_argument('--dropout', type=float, default=0.0)
a = p.parse_args(); torch.set_num_threads(a.threads)
from bench.common import load_cifar10
_held = load_cifar10()
images = np.concatenate([_held.test_images, _held.train_images]); labels = np.concatenate([_held.test_labels, _held.train_labels])
order = np.arange(len(labels)); test_i, train_i = order[:10000][:a.test_limit], order[10000:]
if a.train_limit: train_i = train_i[:a.train_limit]
model = tb.create_backbone('efficientnet_lite0').model.eval().to(memory_format=torch.channels_last)
parts = [nn.Sequential(*b) if isinstance(b, nn.ModuleList) else b for b in tb.blocks(model)]; nb = len(parts)
bottom = nn.Sequential(*parts[:nb - a.top]) if a.top < nb else nn.Identity()
top = nn.Sequential(*parts[nb - a.top:])
dtype = torch.float32 if a.fp32 else torch.bfloat16
def prep(ix, flip):
    x = torch.from_numpy(images[ix]).permute(0, 3, 1, 2).float().div_(255)
    if flip: x = x.flip(-1)
    x = F.interpolate(x, size=(a.size, a.size), mode='bilinear', align_corners=False)
    return ((x - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)
cache = f'/tmp/cache_{a.size}_{a.top}_{len(train_i)}_{len(test_i)}.pt'
t0, c0 = time.perf_counter(), time.process_time()
if os.path.exists(cache):
    C = torch.load(cache); print('loaded cache', cache)
else:
    C = {}
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=not a.fp32):
        for name, ix in (('train', train_i), ('test', test_i)):
            for flip in (0, 1):
                outs = [bottom(prep(ix[s:s + 250], flip)).to(torch.bfloat16) for s in range(0, len(ix), 250)]
                C[f'{name}{flip}'] = torch.cat(outs)
    torch.save(C, cache)
    print(json.dumps(dict(cache_s=round(time.perf_counter() - t0, 1), cache_cpu_s=round(time.process_time() - c0, 1),
                          images=2 * (len(train_i) + len(test_i)), shape=list(C['train0'].shape[1:]))), flush=True)
ytr, yte = torch.from_numpy(labels[train_i]), torch.from_numpy(labels[test_i])
def pooled(x):
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=not a.fp32):
        return torch.cat([top(x[s:s + 500].float().contiguous(memory_format=torch.channels_last)).mean((2, 3)).float() for s in range(0, len(x), 500)])
t1 = time.perf_counter()
ftr = torch.cat([pooled(C['train0']), pooled(C['train1'])]); fte0, fte1 = pooled(C['test0']), pooled(C['test1'])
print('pooled features', round(time.perf_counter() - t1, 1), 's', flush=True)
# linear probe: full-batch-ish Adam on standardised features
mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
def probe(wd, steps=300):
    torch.manual_seed(0); head = nn.Linear(ftr.shape[1], 10)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=0)
    X, Y = (ftr - mu) / sd, torch.cat([ytr, ytr])
    for i in range(steps):
        idx = torch.randint(0, len(X), (4096,))
        loss = F.cross_entropy(head(X[idx]), Y[idx]) + wd * head.weight.pow(2).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        l0, l1 = head((fte0 - mu) / sd), head((fte1 - mu) / sd)
    return head, (l0.argmax(1) == yte).float().mean().item(), ((l0 + l1).argmax(1) == yte).float().mean().item()
best = None
for wd in (1e-4, 1e-3, 1e-2):
    h, acc, acc_tta = probe(wd)
    print(json.dumps(dict(probe_wd=wd, acc=round(acc, 4), acc_tta=round(acc_tta, 4))), flush=True)
    if best is None or acc > best[1]: best = (h, acc, wd)
if a.probe_only or not a.epochs: sys.exit()
# fine-tune top blocks + head (initialised from the probe, folding the standardisation in)
torch.manual_seed(a.seed)
head = nn.Linear(ftr.shape[1], 10)
with torch.no_grad():
    head.weight.copy_(best[0].weight / sd); head.bias.copy_(best[0].bias - (best[0].weight * mu / sd).sum(1))
net = nn.Sequential(top, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(a.dropout), head)
for m in top.modules():
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and not a.bn_train: m.requires_grad_(False)
bb = [q for q in top.parameters() if q.requires_grad]
opt = torch.optim.AdamW([dict(params=bb, lr=a.lr), dict(params=head.parameters(), lr=a.head_lr or a.lr)], weight_decay=a.wd)
n = len(ytr); steps_per_epoch = n // a.bs; total = int(steps_per_epoch * a.epochs)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[a.lr, a.head_lr or a.lr], total_steps=total, pct_start=0.15, anneal_strategy='linear')
def set_mode():
    net.train()
    if not a.bn_train:
        for m in top.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm): m.eval()
def evaluate():
    net.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=not a.fp32):
        l0 = torch.cat([net(C['test0'][s:s + 500].float().contiguous(memory_format=torch.channels_last)).float() for s in range(0, len(yte), 500)])
        l1 = torch.cat([net(C['test1'][s:s + 500].float().contiguous(memory_format=torch.channels_last)).float() for s in range(0, len(yte), 500)])
    set_mode(); return (l0.argmax(1) == yte).float().mean().item(), ((l0 + l1).argmax(1) == yte).float().mean().item()
step, train_s, cpu_s = 0, 0.0, 0.0
set_mode()
for epoch in range(math.ceil(a.epochs)):
    t0, c0 = time.perf_counter(), time.process_time()
    flip = torch.rand(n) < 0.5; perm = torch.randperm(n)
    for i in range(steps_per_epoch):
        idx = perm[i * a.bs:(i + 1) * a.bs]; f = flip[idx]
        xb = torch.where(f[:, None, None, None], C['train1'][idx], C['train0'][idx]).float().contiguous(memory_format=torch.channels_last)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=not a.fp32):
            out = net(xb)
        loss = F.cross_entropy(out.float(), ytr[idx], label_smoothing=a.ls)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step(); step += 1
        if step >= total: break
    train_s += time.perf_counter() - t0; cpu_s += time.process_time() - c0
    acc, acc_tta = evaluate()
    print(json.dumps(dict(epoch=round(step / steps_per_epoch, 2), train_s=round(train_s, 1), cpu_s=round(cpu_s, 1), loss=round(loss.item(), 3), acc=round(acc, 4), acc_tta=round(acc_tta, 4))), flush=True)
    if step >= total: break
