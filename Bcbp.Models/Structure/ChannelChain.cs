namespace Bcbp.Models.Structure;

/// <summary>
/// A producer conv whose output channels can be physically removed: its BatchNorm (if any) and the one layer that
/// consumes those channels. <see cref="ColumnsPerChannel"/> is how many input columns of the consumer belong to one
/// channel (1 for a conv, pooled h * w for the Linear after VGG's flatten). In every chain
/// <see cref="ModelStructure.ChannelChains"/> finds, a ReLU follows the norm (or the conv) before the consumer, so a
/// channel whose constant output is &lt;= 0 is exactly 0 downstream.
/// </summary>
public sealed record ChannelChain(string Producer, string? Norm, string Consumer, long ColumnsPerChannel);
