using Bcbp.Kernels.Interop;
using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using Bcbp.Models.ResNet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Plan;

/// <summary>
/// Reads a converted model's forward into <see cref="ModelPlan"/>'s launches, the way the model's own forward runs
/// (torchvision's resnet.py and vgg.py, Bcbp.Models' CIFAR ResNet): one method per architecture, one per block. Every
/// activation is a CHWN buffer [C x H x W x Bp] allocated here once.
/// </summary>
internal sealed class PlanBuilder : IDisposable
{
    const int Threads = 256;
    readonly ScalarType _dtype;
    readonly Device _device;
    readonly int _ordinal;
    readonly long _batch, _padded;
    readonly IReadOnlyList<string> _defines;

    internal PlanBuilder(long[] inputShape, ScalarType dtype, Device device)
    {
        _dtype = dtype; _device = device; _ordinal = device.index < 0 ? 0 : device.index;
        _batch = inputShape[0];
        _padded = (_batch + 7) / 8 * 8;
        _defines = new[] { $"BF16={(dtype == ScalarType.BFloat16 ? 1 : 0)}" };
        Input = Buffer(inputShape);
    }

    internal List<KernelLaunch> Launches { get; } = new();
    internal List<Tensor> Buffers { get; } = new();
    /// <summary>The NCHW input buffer the caller's batch is copied into.</summary>
    internal Tensor Input { get; }
    /// <summary>The logits [classes x Bp].</summary>
    internal Tensor Output { get; private set; } = null!;

    /// <summary>Plans the whole model.</summary>
    internal void Walk(nn.Module model)
    {
        var x = ToChwn();
        var children = Children(model);
        Tensor y = model switch
        {
            TorchSharp.Modules.ResNet => ResNet(children, x, stemPool: true),
            CifarResNet => ResNet(children, x, stemPool: false),
            _ when children.ContainsKey("features") && children.ContainsKey("classifier") => Vgg(children, x),
            _ => throw new NotSupportedException($"the whole-model plan knows TorchVision's ResNet and VGG and the CIFAR ResNet, not {model.GetType().Name}"),
        };
        if (y.dim() != 2) throw new NotSupportedException("the model does not end in a linear classifier");
        Output = y;
    }

    // torchvision resnet.py: conv1, bn1, relu, maxpool, layer1..4, avgpool, flatten, fc. The CIFAR ResNet: the same
    // without the max pool (its ReLU is in its forward, not a module).
    Tensor ResNet(Dictionary<string, nn.Module> c, Tensor x, bool stemPool)
    {
        RequireFolded(c, "bn1");
        x = Conv(Get<BcbpConv2d>(c, "conv1"), x, null, relu: true);
        if (stemPool) x = MaxPool(Get<MaxPool2d>(c, "maxpool"), x);
        foreach (var stage in c.Keys.Where(k => k.StartsWith("layer", StringComparison.Ordinal)).OrderBy(k => k, StringComparer.Ordinal))
            foreach (var (name, block) in ((Sequential)c[stage]).named_children())
                x = Block(block as SparseResidualBlock
                          ?? throw new NotSupportedException($"{stage}.{name} is not a fused block (convert with BatchNorm folding)"), x);
        x = AvgPool(Get<AdaptiveAvgPool2d>(c, "avgpool"), x);
        return Linear(Get<BcbpLinear>(c, "fc"), x, relu: false);
    }

    // relu(conv_n(...relu(conv1(x))) + shortcut(x)), as SparseResidualBlock computes it.
    Tensor Block(SparseResidualBlock b, Tensor x)
    {
        Tensor shortcut = b.Downsample is { } d ? Downsample(d, x)
            : b.OptionA is { } a ? ShortcutA(x, a.Stride, a.PadChannels)
            : x;
        var h = x;
        for (int i = 0; i < b.Convs.Count - 1; i++) h = Conv(b.Convs[i], h, null, relu: true);
        return Conv(b.Convs[^1], h, shortcut, relu: true);
    }

    Tensor Downsample(nn.Module d, Tensor x)
    {
        if (d is BcbpConv2d conv) return Conv(conv, x, null, relu: false);
        var parts = d.named_children().Select(p => p.module).Where(m => m is not Identity).ToList();
        if (parts is [BcbpConv2d only]) return Conv(only, x, null, relu: false);
        throw new NotSupportedException("a downsample that is not one sparse conv (BatchNorm folded) cannot be planned");
    }

    // torchvision vgg.py: features, avgpool, flatten, classifier (linear, relu, dropout, ...).
    Tensor Vgg(Dictionary<string, nn.Module> c, Tensor x)
    {
        x = Sequence((Sequential)c["features"], x, "features");
        x = AvgPool(Get<AdaptiveAvgPool2d>(c, "avgpool"), x);
        return Sequence((Sequential)c["classifier"], x, "classifier");
    }

    // A Sequential of convs/linears, ReLUs (fused into the layer before), pools, and no-ops in eval mode.
    Tensor Sequence(Sequential seq, Tensor x, string prefix)
    {
        var items = seq.named_children().Where(m => m.module is not (Identity or Dropout)).ToList();
        for (int i = 0; i < items.Count; i++)
        {
            var (name, m) = items[i];
            bool reluNext = i + 1 < items.Count && items[i + 1].module is ReLU;
            switch (m)
            {
                case BcbpConv2d conv:
                    x = Conv(conv, x, null, relu: conv.FusedRelu || reluNext);
                    if (reluNext) i++;
                    break;
                case BcbpLinear lin:
                    x = Linear(lin, x, relu: reluNext);
                    if (reluNext) i++;
                    break;
                case MaxPool2d pool: x = MaxPool(pool, x); break;
                case ChwnMaxPool2d pool: x = MaxPool((MaxPool2d)pool.Pool, x); break;
                default: throw new NotSupportedException($"{prefix}.{name} ({m.GetType().Name}) cannot be planned (not a sparse layer, ReLU after one, pool or dropout)");
            }
        }
        return x;
    }

    // ---- the launches ----

    Tensor ToChwn()
    {
        long c = Input.shape[1], h = Input.shape[2], w = Input.shape[3], f = c * h * w;
        var y = Buffer(c, h, w, _padded);
        var args = new KernelArgs(5).Ptr(Ptr(Input)).Ptr(Ptr(y)).I32((int)_batch).I64(f).I32((int)_padded);
        Launches.Add(new KernelLaunch(Function("nchw_to_chwn"), "nchw_to_chwn", ((uint)((f + 31) / 32), (uint)((_batch + 31) / 32), 1), 256, 0, args));
        return y;
    }

    Tensor Conv(BcbpConv2d conv, Tensor x, Tensor? residual, bool relu)
    {
        var (packed, bias) = conv.PackedFor(_device, _dtype);
        var y = Buffer(GatherGemm.ConvOutputShape(packed, x, conv.Geometry));
        Launches.Add(GatherGemm.PrepareConv2d(packed, x, y, conv.Geometry, bias, residual, relu));
        return y;
    }

    Tensor Linear(BcbpLinear lin, Tensor x, bool relu)
    {
        var (packed, bias) = lin.PackedFor(_device, _dtype);
        var input = x.view(-1, _padded);              // CHWN [C x H x W x B] is the flattened [C*H*W x B] as it is
        if (input.shape[0] != lin.Weight.Cols)
            throw new NotSupportedException($"the classifier takes {lin.Weight.Cols} features, the layer before gives {input.shape[0]}");
        var y = Buffer(lin.Weight.Rows, _padded);
        Launches.Add(GatherGemm.PrepareGemm(packed, input, y, bias, null, relu));
        return y;
    }

    Tensor MaxPool(MaxPool2d pool, Tensor x)
    {
        long k = pool.kernel_size[0], s = (pool.stride ?? pool.kernel_size)[0], p = (pool.padding ?? new long[] { 0 })[0];
        if (pool.kernel_size.Any(v => v != k) || (pool.stride ?? pool.kernel_size).Any(v => v != s)
            || (pool.padding ?? new long[] { 0 }).Any(v => v != p) || (pool.dilation ?? new long[] { 1 }).Any(d => d != 1))
            throw new NotSupportedException("only square, undilated max pools can be planned");
        long c = x.shape[0], h = x.shape[1], w = x.shape[2];
        long oh = PoolSize(h, k, s, p, pool.ceil_mode), ow = PoolSize(w, k, s, p, pool.ceil_mode);
        var y = Buffer(c, oh, ow, _padded);
        var args = new KernelArgs(11).Ptr(Ptr(x)).Ptr(Ptr(y)).I32((int)c).I32((int)h).I32((int)w).I32((int)_padded)
            .I32((int)oh).I32((int)ow).I32((int)k).I32((int)s).I32((int)p);
        Elementwise("maxpool_chwn", c * oh * ow * (_padded / 8), args);
        return y;
    }

    // PyTorch's pooling output size, ceil mode included (a last window must start inside the input or its padding).
    static long PoolSize(long size, long k, long s, long p, bool ceil)
    {
        long span = size + 2 * p - k;
        long o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= size + p) o--;
        return o;
    }

    Tensor AvgPool(AdaptiveAvgPool2d pool, Tensor x)
    {
        long c = x.shape[0], h = x.shape[1], w = x.shape[2];
        var size = pool.output_size;
        long oh = size[0], ow = size.Length > 1 ? size[1] : size[0];
        if (oh == h && ow == w) return x;             // torchvision VGG at 224: already 7x7
        if (oh != 1 || ow != 1) throw new NotSupportedException($"adaptive average pooling from {h}x{w} to {oh}x{ow} cannot be planned (only to 1x1 or to the same size)");
        var y = Buffer(c, 1, 1, _padded);
        var args = new KernelArgs(5).Ptr(Ptr(x)).Ptr(Ptr(y)).I32((int)c).I32((int)(h * w)).I32((int)_padded);
        Elementwise("avgpool_chwn", c * (_padded / 8), args);
        return y;
    }

    Tensor ShortcutA(Tensor x, int stride, int padChannels)
    {
        long c = x.shape[0], h = x.shape[1], w = x.shape[2];
        long oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride, co = c + padChannels;
        var y = Buffer(co, oh, ow, _padded);
        var args = new KernelArgs(11).Ptr(Ptr(x)).Ptr(Ptr(y)).I32((int)c).I32((int)h).I32((int)w).I32((int)_padded)
            .I32((int)co).I32((int)oh).I32((int)ow).I32(stride).I32(padChannels / 2);
        Elementwise("shortcut_a_chwn", co * oh * ow * (_padded / 8), args);
        return y;
    }

    void Elementwise(string kernel, long threads, KernelArgs args)
        => Launches.Add(new KernelLaunch(Function(kernel), kernel, ((uint)((threads + Threads - 1) / Threads), 1, 1), Threads, 0, args));

    IntPtr Function(string kernel) => KernelCache.Function("plan_ops.cu", kernel, _defines, _ordinal);

    // Zeroed once: the batch padding columns start (and, fed zeros, stay) finite.
    Tensor Buffer(params long[] shape)
    {
        var t = zeros(shape, dtype: _dtype, device: _device);
        Buffers.Add(t);
        return t;
    }

    static IntPtr Ptr(Tensor t) => TensorPointer.Of(t, "plan buffer");

    static Dictionary<string, nn.Module> Children(nn.Module m) => m.named_children().ToDictionary(c => c.name, c => c.module);

    static T Get<T>(Dictionary<string, nn.Module> c, string name) where T : class
        => c.GetValueOrDefault(name) as T
           ?? throw new NotSupportedException($"'{name}' is {c.GetValueOrDefault(name)?.GetType().Name ?? "missing"}, not a {typeof(T).Name}" +
                                              (typeof(T) == typeof(BcbpConv2d) || typeof(T) == typeof(BcbpLinear) ? " (convert with dense layers: SparseConversion.Convert(..., dense: true))" : ""));

    static void RequireFolded(Dictionary<string, nn.Module> c, string name)
    {
        if (c.GetValueOrDefault(name) is BatchNorm2d) throw new NotSupportedException($"'{name}' is not folded (convert with BatchNorm folding and dense layers)");
    }

    public void Dispose()
    {
        foreach (var l in Launches) l.Dispose();
        foreach (var t in Buffers) t.Dispose();
    }
}
