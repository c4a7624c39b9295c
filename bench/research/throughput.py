import sys, time, torch, argparse
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nets import AirNet
from solutions.week3.improved_cnn import build_resnet_cnn
p = argparse.ArgumentParser(); p.add_argument('--steps', type=int, default=6); p.add_argument('--bs', type=int, default=256)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--models', nargs='+', default=['resnet32_64_128', 'air64_128_128', 'air32_64_64', 'air48_96_96', 'air32_64_128'])
p.add_argument('--prec', nargs='+', default=['bf16']); p.add_argument('--compile', action='store_true')
a = p.parse_args()
torch.set_num_threads(a.threads)
def make(name):
    w = tuple(int(v) for v in name.split('_', 1)[0][len(name.rstrip('0123456789_')) :] .split('_')) if False else None
    kind = 'resnet' if name.startswith('resnet') else 'air'
    w = tuple(int(v) for v in name[len(kind):].split('_'))
    return build_resnet_cnn(10, (32,32,3), widths=w) if kind == 'resnet' else AirNet(w)
x = torch.randn(a.bs, 3, 32, 32).contiguous(memory_format=torch.channels_last); y = torch.randint(0, 10, (a.bs,))
for name in a.models:
    for prec in a.prec:
        torch.manual_seed(0); m = make(name).to(memory_format=torch.channels_last); m.train()
        opt = torch.optim.SGD([q for q in m.parameters() if q.requires_grad], lr=0.01, momentum=0.9, nesterov=True)
        f = torch.compile(m) if a.compile else m
        def step():
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=prec=='bf16'):
                out = f(x)
            loss = torch.nn.functional.cross_entropy(out.float(), y, label_smoothing=0.2)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        for _ in range(3): step()
        best_w, best_c = 1e9, 1e9
        for _ in range(a.steps):
            t0, c0 = time.perf_counter(), time.thread_time(); step()
            best_w = min(best_w, time.perf_counter() - t0); best_c = min(best_c, time.thread_time() - c0)
        print(f'{name:16s} {prec} bs{a.bs} thr{a.threads}: wall-best {a.bs/best_w:6.0f} img/s  cpu-best {a.bs/best_c:6.0f} img/s', flush=True)
