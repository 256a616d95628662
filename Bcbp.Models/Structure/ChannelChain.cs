namespace Bcbp.Models.Structure;

/// <summary>
/// A producer conv whose output channels can be physically removed: its BatchNorm (if any) and the one layer that
/// consumes those channels (found by <see cref="ModelStructure.Chains"/>). <see cref="ColumnsPerChannel"/> is how many
/// input columns of the consumer belong to one channel (1 for a conv, pooled h * w for a Linear after a flatten).
/// </summary>
public sealed record ChannelChain(string Producer, string? Norm, string Consumer, long ColumnsPerChannel);
