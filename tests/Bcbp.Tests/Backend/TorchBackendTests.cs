using TorchSharp;

namespace Bcbp.Tests.Backend;

/// <summary>The native libtorch loads (on Debian 12 this needs the build's GLIBCXX fix) and computes.</summary>
public class TorchBackendTests
{
    [Test]
    public void MatmulOnCpuMatchesHandComputedResult()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = a.matmul(a);
        Assert.That(b.data<float>().ToArray(), Is.EqualTo(new float[] { 7, 10, 15, 22 }));
    }

    [Test]
    public void CudnnBenchmarkIsSetAndReadBackThroughLibtorchsContext()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        bool before = Bcbp.Training.Backend.TorchBackend.CudnnBenchmark;
        try
        {
            Bcbp.Training.Backend.TorchBackend.SetCudnnBenchmark(true);
            Assert.That(Bcbp.Training.Backend.TorchBackend.CudnnBenchmark, Is.True);
            Bcbp.Training.Backend.TorchBackend.SetCudnnBenchmark(false);
            Assert.That(Bcbp.Training.Backend.TorchBackend.CudnnBenchmark, Is.False);
        }
        finally { Bcbp.Training.Backend.TorchBackend.SetCudnnBenchmark(before); }
    }
}
