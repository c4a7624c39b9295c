import torch, torch.nn as nn, torch.nn.functional as F

class BN(nn.BatchNorm2d):
    def __init__(self, c, momentum=0.4, eps=1e-12, weight=False):
        super().__init__(c, eps=eps, momentum=momentum)
        self.weight.requires_grad = weight

class Conv(nn.Conv2d):
    def __init__(self, cin, cout, k=3, padding='same', bias=False, dirac=True):
        self.dirac = dirac
        super().__init__(cin, cout, k, padding=padding, bias=bias)
    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None: self.bias.data.zero_()
        if self.dirac:
            w = self.weight.data; torch.nn.init.dirac_(w[:w.size(1)])

class Group(nn.Module):
    def __init__(self, cin, cout, act=nn.GELU, bnw=False, dirac=True):
        super().__init__()
        self.conv1 = Conv(cin, cout, dirac=dirac); self.pool = nn.MaxPool2d(2)
        self.norm1 = BN(cout, weight=bnw); self.conv2 = Conv(cout, cout, dirac=dirac); self.norm2 = BN(cout, weight=bnw)
        self.act = act()
    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))

class AirNet(nn.Module):
    def __init__(self, widths=(64,128,128), whiten_k=2, scale=1/9, act=nn.GELU, bnw=False, dirac=True, residual=False):
        super().__init__()
        wc = 2*3*whiten_k**2
        self.whiten = nn.Conv2d(3, wc, whiten_k, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.act = act()
        self.groups = nn.Sequential(Group(wc, widths[0], act, bnw, dirac), Group(widths[0], widths[1], act, bnw, dirac), Group(widths[1], widths[2], act, bnw, dirac))
        self.head = nn.Linear(widths[2], 10, bias=False)
        self.scale = scale
    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.groups(self.act(self.whiten(x)))
        x = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.head(x) * self.scale

def init_whitening(layer, images, eps=5e-4):
    h, w = layer.weight.shape[2:]
    c = images.shape[1]
    patches = images.unfold(2,h,1).unfold(3,w,1).transpose(1,3).reshape(-1,c,h,w).float()
    flat = patches.reshape(len(patches), -1)
    cov = flat.T @ flat / len(flat)
    evals, evecs = torch.linalg.eigh(cov, UPLO='U')
    evals, evecs = evals.flip(0).view(-1,1,1,1), evecs.T.reshape(c*h*w,c,h,w).flip(0)
    scaled = evecs / torch.sqrt(evals + eps)
    layer.weight.data[:] = torch.cat((scaled, -scaled))

class ResStage(nn.Module):
    """improved_cnn's ResidualStage: conv -> pool -> BN -> GELU, then x + (conv -> BN -> GELU). Standard BN."""
    def __init__(self, cin, cout, airbn=False):
        super().__init__()
        mk = (lambda c: BN(c)) if airbn else nn.BatchNorm2d
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False); self.pool = nn.MaxPool2d(2); self.norm = mk(cout)
        self.res = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), mk(cout), nn.GELU()); self.act = nn.GELU()
    def forward(self, x):
        x = self.act(self.norm(self.pool(self.conv(x))))
        return x + self.res(x)

class AirRes(nn.Module):
    def __init__(self, widths=(64,128,128), airbn=False, scale=1/9):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True); self.whiten.weight.requires_grad = False
        self.groups = nn.Sequential(ResStage(24, widths[0], airbn), ResStage(widths[0], widths[1], airbn), ResStage(widths[1], widths[2], airbn))
        self.head = nn.Linear(widths[2], 10, bias=False); self.scale = scale
    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.groups(F.gelu(self.whiten(x)))
        return self.head(F.adaptive_max_pool2d(x, 1).flatten(1)) * self.scale
