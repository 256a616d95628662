using System.Runtime.InteropServices;

namespace Bcbp.Kernels.Interop;

/// <summary>
/// Programmatic dependent launch (Hopper and later): each of our kernels may be scheduled while the kernel before it on
/// the stream finishes, so at small batches the next layer's blocks are resident when the previous one ends instead
/// of being launched then. On by default from sm_90 on (<c>verify</c> 487/487 with it on the H200; ResNet-50 75% plan
/// 0.551 -> 0.511 ms at batch 1, 6.87 -> 6.79 ms at batch 256, docs/kernels.md session 8); <c>BCBP_PDL=0</c> (read
/// once) turns it off. <see cref="KernelCache"/> then compiles every kernel with
/// <c>PDL=1</c> (bcbp_common.cuh's <c>pdl_wait</c> before any global memory another kernel touches) and
/// <see cref="CudaDriver.Launch"/> launches exactly those with the attribute. A kernel without the wait must never get
/// the attribute: it could read its input before the previous kernel has written it.
/// </summary>
internal static class ProgrammaticLaunch
{
    static readonly Lazy<bool> On = new(() => Parse(Environment.GetEnvironmentVariable("BCBP_PDL")));

    /// <summary><c>BCBP_PDL</c>'s value: unset or <c>1</c> on, <c>0</c> off; anything else is refused with what to write.</summary>
    internal static bool Parse(string? value) => value switch
    {
        null or "" or "1" => true,
        "0" => false,
        _ => throw new ArgumentException($"BCBP_PDL='{value}': give 0 (launch kernels plainly) or 1 (programmatic dependent launch, the default), or unset it"),
    };

    /// <summary>Whether kernels for a device of compute capability <paramref name="computeCapability"/> (90 = sm_90) are
    /// compiled and launched programmatically.</summary>
    internal static bool For(int computeCapability) => For(On.Value, computeCapability);

    /// <summary><see cref="For(int)"/> with the knob given: griddepcontrol exists from sm_90 on.</summary>
    internal static bool For(bool on, int computeCapability) => on && computeCapability >= 90;

    /// <summary>cuLaunchKernelEx's CUlaunchConfig (cuda.h): 7 unsigned ints, then the stream, the attributes and their count,
    /// naturally aligned (56 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct LaunchConfig
    {
        public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
        public IntPtr Stream, Attributes;
        public uint AttributeCount;
    }

    /// <summary>CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuda.h's CUlaunchAttributeID).</summary>
    internal const int StreamSerializationAttribute = 6;

    /// <summary>Bytes of one CUlaunchAttribute: the id, 4 bytes of padding, the 64-byte value union.</summary>
    internal const int AttributeBytes = 72;

    /// <summary>One CUlaunchAttribute, allocated once and never freed: programmatic stream serialization allowed.</summary>
    internal static readonly Lazy<IntPtr> SerializationAllowed = new(() =>
    {
        var p = Marshal.AllocHGlobal(AttributeBytes);
        for (int i = 0; i < AttributeBytes; i += 4) Marshal.WriteInt32(p, i, 0);
        Marshal.WriteInt32(p, 0, StreamSerializationAttribute);
        Marshal.WriteInt32(p, 8, 1);   // value.programmaticStreamSerializationAllowed
        return p;
    });
}
