using Bcbp.Kernels.Modules;
using Bcbp.Kernels.Ops;
using Bcbp.Models.ResNet;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Kernels.Plan;

/// <summary>
/// Reads a converted model's forward into a <see cref="PlanGraph"/>, the way the model's own forward runs
/// (torchvision's resnet.py and vgg.py, Bcbp.Models' CIFAR ResNet): one method per architecture, one per block, shapes
/// inferred as it goes. Pure: no device work, so the walk is tested on the CPU (<see cref="PlanReference"/>).
/// </summary>
public sealed class PlanBuilder
{
    readonly List<long[]> _shapes = new();
    readonly List<PlanStep> _steps = new();
    readonly long _padded;

    PlanBuilder(long[] inputShape)
    {
        if (inputShape.Length != 4 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"the plan takes NCHW inputs, got [{string.Join(", ", inputShape)}]");
        _padded = (inputShape[0] + 7) / 8 * 8;
        _shapes.Add(inputShape);
    }

    /// <summary>The plan of <paramref name="model"/> (converted with BatchNorm folding, fused epilogues and dense
    /// layers) for NCHW inputs of <paramref name="inputShape"/>. Throws <see cref="NotSupportedException"/> naming
    /// the module it cannot plan.</summary>
    public static PlanGraph Build(nn.Module model, long[] inputShape)
    {
        var b = new PlanBuilder(inputShape);
        int x = b.ToChwn();
        var children = Children(model);
        int y = model switch
        {
            TorchSharp.Modules.ResNet => b.ResNet(children, x, stemPool: true),
            CifarResNet => b.ResNet(children, x, stemPool: false),
            _ when children.ContainsKey("features") && children.ContainsKey("classifier") => b.Vgg(children, x),
            _ => throw new NotSupportedException($"the whole-model plan knows TorchVision's ResNet and VGG and the CIFAR ResNet, not {model.GetType().Name}"),
        };
        if (b._steps[^1] is not LinearStep) throw new NotSupportedException("the model does not end in a linear classifier");
        return new PlanGraph(b._shapes, b._steps, y, inputShape[0], b._padded);
    }

    // torchvision resnet.py: conv1, bn1, relu, maxpool, layer1..4, avgpool, flatten, fc. The CIFAR ResNet: the same
    // without the max pool (its ReLU is in its forward, not a module).
    int ResNet(Dictionary<string, nn.Module> c, int x, bool stemPool)
    {
        if (c.GetValueOrDefault("bn1") is BatchNorm2d) throw new NotSupportedException("'bn1' is not folded (convert with BatchNorm folding and dense layers)");
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
    int Block(SparseResidualBlock b, int x)
    {
        int shortcut = b.Downsample is { } d ? Downsample(d, x)
            : b.OptionA is { } a ? ShortcutA(x, a.Stride, a.PadChannels)
            : x;
        int h = x;
        for (int i = 0; i < b.Convs.Count - 1; i++) h = Conv(b.Convs[i], h, null, relu: true);
        return Conv(b.Convs[^1], h, shortcut, relu: true);
    }

    int Downsample(nn.Module d, int x)
    {
        if (d is BcbpConv2d conv) return Conv(conv, x, null, relu: false);
        var parts = d.named_children().Select(p => p.module).Where(m => m is not Identity).ToList();
        if (parts is [BcbpConv2d only]) return Conv(only, x, null, relu: false);
        throw new NotSupportedException("a downsample that is not one sparse conv (BatchNorm folded) cannot be planned");
    }

    // torchvision vgg.py: features, avgpool, flatten, classifier (linear, relu, dropout, ...).
    int Vgg(Dictionary<string, nn.Module> c, int x)
    {
        x = Sequence((Sequential)c["features"], x, "features");
        x = AvgPool(Get<AdaptiveAvgPool2d>(c, "avgpool"), x);
        return Sequence((Sequential)c["classifier"], x, "classifier");
    }

    // A Sequential of convs/linears, ReLUs (fused into the layer before), pools, and no-ops in eval mode.
    int Sequence(Sequential seq, int x, string prefix)
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
                default: throw new NotSupportedException($"{prefix}.{name} ({m.GetType().Name}) cannot be planned (not a sparse layer, a ReLU after one, a pool or dropout)");
            }
        }
        return x;
    }

    // ---- the steps ----

    int ToChwn()
    {
        var s = _shapes[0];
        return Add(o => new ToChwnStep(0, o), s[1], s[2], s[3]);
    }

    int Conv(BcbpConv2d conv, int x, int? residual, bool relu)
    {
        var s = _shapes[x];
        if (s[0] != conv.InChannels) throw new NotSupportedException($"a conv of {conv.InChannels} input channels follows a layer of {s[0]} channels");
        var (oh, ow) = conv.Geometry.OutputSize(s[1], s[2]);
        long[] shape = { conv.OutChannels, oh, ow, _padded };
        if (residual is { } r && !_shapes[r].SequenceEqual(shape))
            throw new NotSupportedException($"a shortcut of [{string.Join(", ", _shapes[r])}] is added to a conv output of [{string.Join(", ", shape)}]");
        return Add(o => new ConvStep(conv, x, residual, relu, o), shape[0], shape[1], shape[2]);
    }

    int Linear(BcbpLinear lin, int x, bool relu)
    {
        var s = _shapes[x];
        if (s[0] * s[1] * s[2] != lin.Weight.Cols)
            throw new NotSupportedException($"the linear layer takes {lin.Weight.Cols} features, the layer before gives {s[0] * s[1] * s[2]}");
        return Add(o => new LinearStep(lin, x, relu, o), lin.Weight.Rows, 1, 1);
    }

    int MaxPool(MaxPool2d pool, int x)
    {
        var stride = pool.stride ?? pool.kernel_size;
        var padding = pool.padding ?? new long[] { 0 };
        long k = pool.kernel_size[0], st = stride[0], p = padding[0];
        if (pool.kernel_size.Any(v => v != k) || stride.Any(v => v != st) || padding.Any(v => v != p) || (pool.dilation ?? new long[] { 1 }).Any(d => d != 1))
            throw new NotSupportedException("only square, undilated max pools can be planned");
        var s = _shapes[x];
        return Add(o => new MaxPoolStep(x, (int)k, (int)st, (int)p, pool.ceil_mode, o), s[0],
            PoolSize(s[1], k, st, p, pool.ceil_mode), PoolSize(s[2], k, st, p, pool.ceil_mode));
    }

    /// <summary>PyTorch's pooling output size, ceil mode included (a last window must start inside the input or its
    /// left padding).</summary>
    public static long PoolSize(long size, long k, long s, long p, bool ceil)
    {
        long span = size + 2 * p - k;
        long o = (ceil ? (span + s - 1) / s : span / s) + 1;
        if (ceil && (o - 1) * s >= size + p) o--;
        return o;
    }

    int AvgPool(AdaptiveAvgPool2d pool, int x)
    {
        var s = _shapes[x];
        var size = pool.output_size;
        long oh = size[0], ow = size.Length > 1 ? size[1] : size[0];
        if (oh == s[1] && ow == s[2]) return x;       // torchvision VGG at 224: already 7x7
        if (oh != 1 || ow != 1)
            throw new NotSupportedException($"adaptive average pooling from {s[1]}x{s[2]} to {oh}x{ow} cannot be planned (only to 1x1 or to the same size)");
        return Add(o => new AvgPoolStep(x, o), s[0], 1, 1);
    }

    int ShortcutA(int x, int stride, int padChannels)
    {
        var s = _shapes[x];
        return Add(o => new ShortcutAStep(x, stride, padChannels, o), s[0] + padChannels, (s[1] + stride - 1) / stride, (s[2] + stride - 1) / stride);
    }

    int Add(Func<int, PlanStep> step, long c, long h, long w)
    {
        int o = _shapes.Count;
        _shapes.Add(new[] { c, h, w, _padded });
        _steps.Add(step(o));
        return o;
    }

    static Dictionary<string, nn.Module> Children(nn.Module m) => m.named_children().ToDictionary(c => c.name, c => c.module);

    static T Get<T>(Dictionary<string, nn.Module> c, string name) where T : class
        => c.GetValueOrDefault(name) as T
           ?? throw new NotSupportedException($"'{name}' is {c.GetValueOrDefault(name)?.GetType().Name ?? "missing"}, not a {typeof(T).Name}" +
                                              (typeof(T) == typeof(BcbpConv2d) || typeof(T) == typeof(BcbpLinear) ? " (convert with dense layers: SparseConversion.Convert(..., dense: true))" : ""));
}
