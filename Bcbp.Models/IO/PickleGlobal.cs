namespace Bcbp.Models.IO;

/// <summary>
/// A global a pickle names (opcode GLOBAL / STACK_GLOBAL), e.g. <c>torch._utils._rebuild_tensor_v2</c>. Only names
/// in <see cref="RestrictedUnpickler"/>'s whitelist ever become one; nothing is ever imported or called.
/// </summary>
public sealed record PickleGlobal(string Module, string Name)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A pickled tuple (kept apart from lists, which pickles build differently).</summary>
public sealed record PickleTuple(object?[] Items);
