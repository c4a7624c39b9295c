"""Full fine-tuning of Lite0 at small sizes (research): accuracy per epoch."""
import sys, time, math, json, argparse
from pathlib import Path
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from solutions.week4.heads import build_transfer_model
from solutions.week3.augmentation import random_crop_flip
p = argparse.ArgumentParser()
p.add_argument('--size', type=int, default=64); p.add_argument('--train-limit', type=int, default=10000)
p.add_argument('--test-limit', type=int, default=2000); p.add_argument('--epochs', type=float, default=3)
p.add_argument('--lr', type=float, default=5e-4); p.add_argument('--head-lr', type=float, default=5e-3)
p.add_argument('--wd', type=float, default=0.05); p.add_argument('--bs', type=int, default=128)
p.add_argument('--bn-train', type=int, default=1); p.add_argument('--threads', type=int, default=1)
p.add_argument('--ls', type=float, default=0.1)
a = p.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
from bench.common import load_cifar10
_held = load_cifar10()
images = np.concatenate([_held.test_images, _held.train_images]); labels = np.concatenate([_held.test_labels, _held.train_labels])
order = np.arange(len(labels)); test_i, train_i = order[:10000][:a.test_limit], order[10000:][:a.train_limit]
def t(ix): return (torch.from_numpy(images[ix]).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5, torch.from_numpy(labels[ix])
xtr, ytr = t(train_i); xte, yte = t(test_i)
model, _ = build_transfer_model(10, image_size=a.size); model = model.to(memory_format=torch.channels_last).train()
head = model.classifier
for m in model.modules():
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and not a.bn_train: m.requires_grad_(False)
bb = [q for n, q in model.named_parameters() if q.requires_grad and not n.startswith('classifier')]
opt = torch.optim.AdamW([dict(params=bb, lr=a.lr), dict(params=head.parameters(), lr=a.head_lr)], weight_decay=a.wd)
spe = len(ytr) // a.bs; total = int(spe * a.epochs)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[a.lr, a.head_lr], total_steps=total, pct_start=0.15, anneal_strategy='linear')
up = lambda x: F.interpolate(x, size=(a.size, a.size), mode='bilinear', align_corners=False).contiguous(memory_format=torch.channels_last)
def setmode():
    model.train()
    if not a.bn_train:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm): m.eval()
def evaluate():
    model.eval(); correct = 0
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        for s in range(0, len(yte), 500):
            xb = xte[s:s + 500]; l = model(up(xb)).float() + model(up(xb.flip(-1))).float()
            correct += (l.argmax(1) == yte[s:s + 500]).sum().item()
    setmode(); return correct / len(yte)
step = 0; cpu = 0.0; setmode()
for epoch in range(math.ceil(a.epochs)):
    c0 = time.process_time(); perm = torch.randperm(len(ytr))
    for i in range(spe):
        idx = perm[i * a.bs:(i + 1) * a.bs]
        xb = up(random_crop_flip(xtr[idx], 2))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(xb)
        loss = F.cross_entropy(out.float(), ytr[idx], label_smoothing=a.ls)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step(); step += 1
        if step >= total: break
    cpu += time.process_time() - c0
    print(json.dumps(dict(epoch=round(step / spe, 2), cpu_s=round(cpu, 1), img_per_cpu_s=round(step * a.bs / cpu), loss=round(loss.item(), 3), acc_tta=round(evaluate(), 4))), flush=True)
    if step >= total: break
