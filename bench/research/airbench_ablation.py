"""Research trainer: airbench-style recipe on CPU. Accuracy per epoch is what matters (load-independent)."""
import sys, time, math, json, argparse
from pathlib import Path
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nets import AirNet, AirRes, init_whitening
from solutions.week3.improved_cnn import build_resnet_cnn

p = argparse.ArgumentParser()
p.add_argument('--net', default='air'); p.add_argument('--widths', type=int, nargs=3, default=[64, 128, 128])
p.add_argument('--epochs', type=float, default=10); p.add_argument('--bs', type=int, default=1024)
p.add_argument('--lr', type=float, default=11.5); p.add_argument('--momentum', type=float, default=0.85)
p.add_argument('--wd', type=float, default=0.0153); p.add_argument('--bias-scaler', type=float, default=64)
p.add_argument('--ls', type=float, default=0.2); p.add_argument('--translate', type=int, default=2)
p.add_argument('--altflip', type=int, default=1); p.add_argument('--whiten', type=int, default=1)
p.add_argument('--lookahead', type=int, default=1); p.add_argument('--tta', type=int, default=2)
p.add_argument('--bf16', type=int, default=1); p.add_argument('--seed', type=int, default=0)
p.add_argument('--threads', type=int, default=2); p.add_argument('--train-limit', type=int, default=0)
p.add_argument('--eval-every', type=int, default=1); p.add_argument('--tag', default='')
p.add_argument('--peak', type=float, default=0.23); p.add_argument('--start', type=float, default=0.2); p.add_argument('--end', type=float, default=0.07)
p.add_argument('--bnw', type=int, default=0); p.add_argument('--dirac', type=int, default=1)
p.add_argument('--whiten-bias-epochs', type=int, default=3); p.add_argument('--airbn', type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
from bench.common import load_cifar10
_held = load_cifar10()
images = np.concatenate([_held.test_images, _held.train_images]); labels = np.concatenate([_held.test_labels, _held.train_labels])
order = np.arange(len(labels)); test_i, train_i = order[:10000], order[10000:]
if a.train_limit: train_i = train_i[:a.train_limit]
def to_t(ix):
    x = torch.from_numpy(images[ix]).permute(0, 3, 1, 2).float().div_(255)
    return x, torch.from_numpy(labels[ix])
xtr, ytr = to_t(train_i); xte, yte = to_t(test_i)
mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
xtr = ((xtr - mean) / std).contiguous(memory_format=torch.channels_last); xte = ((xte - mean) / std).contiguous(memory_format=torch.channels_last)
torch.manual_seed(a.seed)
if a.net in ('air', 'airres'):
    model = AirNet(tuple(a.widths), bnw=bool(a.bnw), dirac=bool(a.dirac)) if a.net == 'air' else AirRes(tuple(a.widths), airbn=bool(a.airbn))
    if a.whiten: init_whitening(model.whiten, xtr[:5000])
    else: model.whiten.weight.requires_grad = True
else:
    model = build_resnet_cnn(10, (32, 32, 3), widths=tuple(a.widths))
model = model.to(memory_format=torch.channels_last)

def batch_crop(padded, r, size=32):
    n = len(padded); shifts = torch.randint(-r, r + 1, (n, 2)); out = torch.empty(n, padded.shape[1], size, size).contiguous(memory_format=torch.channels_last)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = padded[m, :, r + sy:r + sy + size, r + sx:r + sx + size]
    return out

bs = a.bs; steps_per_epoch = len(ytr) // bs; total = math.ceil(steps_per_epoch * a.epochs)
kilo = 1024 * (1 + 1 / (1 - a.momentum)); lr = a.lr / kilo; wd = a.wd * bs / kilo; lr_b = lr * a.bias_scaler
bnp = {id(m.bias) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
norm_b = [q for q in model.parameters() if id(q) in bnp and q.requires_grad]
other = [q for q in model.parameters() if id(q) not in bnp and q.requires_grad]
opt = torch.optim.SGD([dict(params=norm_b, lr=lr_b, weight_decay=wd / lr_b), dict(params=other, lr=lr, weight_decay=wd / lr)], momentum=a.momentum, nesterov=True)
base = [g['lr'] for g in opt.param_groups]
def sched(step):
    x = step / total; pk = a.peak
    return a.start + (1 - a.start) * x / pk if x < pk else 1 + (a.end - 1) * (x - pk) / (1 - pk)
def infer(x, level):
    model.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(a.bf16)):
        outs = []
        for xb in x.split(1000):
            l = model(xb).float()
            if level >= 1: l = 0.5 * l + 0.5 * model(xb.flip(-1)).float()
            if level >= 2:
                pad = F.pad(xb, (1,) * 4, 'reflect')
                tr = [pad[:, :, 0:32, 0:32], pad[:, :, 2:34, 2:34]]
                lt = torch.stack([0.5 * model(t).float() + 0.5 * model(t.flip(-1)).float() for t in tr]).mean(0)
                l = 0.5 * l + 0.5 * lt
            outs.append(l)
    model.train(); return torch.cat(outs)
def acc(x, y, level): return (infer(x, level).argmax(1) == y).float().mean().item()

ema = None; step = 0; train_s = 0.0; cpu_s = 0.0; log = []
flipped = xtr.clone(); fm = torch.rand(len(xtr)) < 0.5; flipped[fm] = xtr[fm].flip(-1)
padded = F.pad(flipped if a.altflip else xtr, (a.translate,) * 4, 'reflect') if a.translate else None
for epoch in range(math.ceil(a.epochs)):
    if a.net in ('air', 'airres') and a.whiten: model.whiten.bias.requires_grad = epoch < a.whiten_bias_epochs
    t0, c0 = time.perf_counter(), time.process_time()
    x = batch_crop(padded, a.translate) if a.translate else (flipped if a.altflip else xtr)
    if a.altflip:
        if epoch % 2 == 1: x = x.flip(-1)
    else:
        m = torch.rand(len(x)) < 0.5; x = x.clone(); x[m] = x[m].flip(-1)
    perm = torch.randperm(len(ytr))
    for i in range(steps_per_epoch):
        idx = perm[i * bs:(i + 1) * bs]; xb, yb = x[idx], ytr[idx]
        f = sched(step)
        for g, b0 in zip(opt.param_groups, base): g['lr'] = b0 * f
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(a.bf16)):
            out = model(xb)
        loss = F.cross_entropy(out.float(), yb, label_smoothing=a.ls, reduction='sum')
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); step += 1
        if a.lookahead and epoch >= 3 and step % 5 == 0:
            if ema is None: ema = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                rho = 0.95 ** 5 * (step / total) ** 3
                for e, v in zip(ema.values(), model.state_dict().values()):
                    if v.dtype.is_floating_point: e.lerp_(v, 1 - rho); v.copy_(e)
        if step >= total: break
    if ema is not None:
        for e, v in zip(ema.values(), model.state_dict().values()):
            if v.dtype.is_floating_point: v.copy_(e)
    train_s += time.perf_counter() - t0; cpu_s += time.process_time() - c0
    last = step >= total
    if last or (epoch + 1) % a.eval_every == 0:
        row = dict(epoch=round(step / steps_per_epoch, 2), train_s=round(train_s, 1), cpu_s=round(cpu_s, 1),
                   acc0_2k=round(acc(xte[:2000], yte[:2000], 0), 4), loss=round(loss.item() / bs, 3))
        if last:
            for lv in (0, 1, 2): row[f'tta{lv}'] = round(acc(xte, yte, lv), 4)
        log.append(row); print(json.dumps(row), flush=True)
print('RESULT', json.dumps(dict(args=vars(a), final=log[-1])), flush=True)
