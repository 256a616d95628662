using Bcbp.Kernels.Modules;

namespace Bcbp.Kernels.Plan;

/// <summary>One step of a whole-model plan: reads buffers by index, writes <see cref="Output"/>. Buffer 0 is the
/// NCHW input; every other buffer is CHWN memory [C x H x W x Bp] (a linear layer's [M x Bp] is [M x 1 x 1 x Bp]).</summary>
public abstract record PlanStep(int Output);

/// <summary>NCHW input [B x C x H x W] to CHWN [C x H x W x Bp] (batch columns B..Bp stay zero).</summary>
public sealed record ToChwnStep(int Input, int Output) : PlanStep(Output);

/// <summary>act(conv(x) + bias (+ residual)); act = ReLU when <see cref="Relu"/>.</summary>
public sealed record ConvStep(BcbpConv2d Conv, int Input, int? Residual, bool Relu, int Output) : PlanStep(Output);

/// <summary>act(W x + b) on the input flattened to [C*H*W x Bp] (PyTorch's flatten order, since CHWN's memory is that).</summary>
public sealed record LinearStep(BcbpLinear Linear, int Input, bool Relu, int Output) : PlanStep(Output);

/// <summary>k x k max pooling, stride s, padding p (ceil mode already in the output shape).</summary>
public sealed record MaxPoolStep(int Input, int Kernel, int Stride, int Padding, bool CeilMode, int Output) : PlanStep(Output);

/// <summary>Global average pooling to [C x 1 x 1 x Bp].</summary>
public sealed record AvgPoolStep(int Input, int Output) : PlanStep(Output);

/// <summary>The CIFAR ResNet's option-A shortcut: subsample by <see cref="Stride"/>, add <see cref="PadChannels"/> zero
/// channels, half before and half after.</summary>
public sealed record ShortcutAStep(int Input, int Stride, int PadChannels, int Output) : PlanStep(Output);

/// <summary>One launch of a plan as <see cref="ModelPlan.ProfileSteps"/> timed it: its index, what it computes, the
/// kernel, the median time in milliseconds and the kernel's registers, spills and blocks per SM.</summary>
public sealed record PlanStepTime(int Index, string Step, string Kernel, double Ms, string Resources);

/// <summary>A model's forward as steps over buffers of known shapes, for inputs [<see cref="Batch"/> x ...];
/// <see cref="Padded"/> is the batch rounded up to a multiple of 8 (the CHWN buffers' last dimension).</summary>
public sealed record PlanGraph(IReadOnlyList<long[]> Shapes, IReadOnlyList<PlanStep> Steps, int Output, long Batch, long Padded);
