using System.Runtime.InteropServices;
using Bcbp.Kernels.Interop;

namespace Bcbp.Tests.Kernels;

/// <summary>The programmatic launch's structs as cuLaunchKernelEx reads them (cuda.h's CUlaunchConfig and
/// CUlaunchAttribute on 64-bit Linux), and the knob: on by default from sm_90.</summary>
public class ProgrammaticLaunchTests
{
    [Test]
    public void TheLaunchConfigHasCudasLayout()
    {
        Assert.That(Marshal.SizeOf<ProgrammaticLaunch.LaunchConfig>(), Is.EqualTo(56));
        Assert.That(Marshal.OffsetOf<ProgrammaticLaunch.LaunchConfig>(nameof(ProgrammaticLaunch.LaunchConfig.SharedBytes)).ToInt32(), Is.EqualTo(24));
        Assert.That(Marshal.OffsetOf<ProgrammaticLaunch.LaunchConfig>(nameof(ProgrammaticLaunch.LaunchConfig.Stream)).ToInt32(), Is.EqualTo(32), "after 4 bytes of padding");
        Assert.That(Marshal.OffsetOf<ProgrammaticLaunch.LaunchConfig>(nameof(ProgrammaticLaunch.LaunchConfig.Attributes)).ToInt32(), Is.EqualTo(40));
        Assert.That(Marshal.OffsetOf<ProgrammaticLaunch.LaunchConfig>(nameof(ProgrammaticLaunch.LaunchConfig.AttributeCount)).ToInt32(), Is.EqualTo(48));
    }

    [Test]
    public void TheAttributeAllowsProgrammaticStreamSerialization()
    {
        var p = ProgrammaticLaunch.SerializationAllowed.Value;
        var bytes = new byte[ProgrammaticLaunch.AttributeBytes];
        Marshal.Copy(p, bytes, 0, bytes.Length);
        Assert.That(BitConverter.ToInt32(bytes, 0), Is.EqualTo(6), "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION");
        Assert.That(BitConverter.ToInt32(bytes, 8), Is.EqualTo(1), "the value union starts at 8: programmaticStreamSerializationAllowed");
        Assert.That(bytes.Skip(12).All(b => b == 0));
    }

    [Test]
    public void OnByDefaultOffWithZeroAndNeverBeforeHopper()
    {
        Assert.That(ProgrammaticLaunch.Parse(null), Is.True);
        Assert.That(ProgrammaticLaunch.Parse("1"), Is.True);
        Assert.That(ProgrammaticLaunch.Parse("0"), Is.False);
        var e = Assert.Throws<ArgumentException>(() => ProgrammaticLaunch.Parse("yes"))!;
        Assert.That(e.Message, Does.Contain("BCBP_PDL='yes'").And.Contain("give 0"));
        Assert.That(ProgrammaticLaunch.For(on: true, 90), Is.True);
        Assert.That(ProgrammaticLaunch.For(on: true, 100), Is.True);
        Assert.That(ProgrammaticLaunch.For(on: true, 89), Is.False, "no griddepcontrol before sm_90");
        Assert.That(ProgrammaticLaunch.For(on: false, 90), Is.False);
    }
}
