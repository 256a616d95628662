using System.Text.Json;
using Bcbp.Models;
using Bcbp.Models.IO;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Tests.Models;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Files we write (.pt via our pickle/zip writer, .safetensors) load in real PyTorch — .pt through
/// torch.load(weights_only=True) — and give our logits, for a dense and a pruned (masked) ResNet-18.
/// </summary>
public class RoundTripTests : TempDirectoryTest
{
    [Test]
    public void OurFilesLoadInPyTorchWithOurLogits()
    {
        var (inputShape, _) = ReferenceData.Shapes(TorchvisionFixtures.WeightsFile("resnet18.json"));
        var inputPath = TorchvisionFixtures.WeightsFile("resnet18.input.bin");
        using var x = ReferenceData.ReadFloats(inputPath, inputShape);
        using var dense = ModelFactory.Create("resnet18", 1000, 3);
        StateDictIO.Load(dense, TorchvisionFixtures.WeightsFile("resnet18.pt"));
        using var pruned = ModelFactory.Create("resnet18", 1000, 3);
        StateDictIO.Load(pruned, TorchvisionFixtures.WeightsFile("resnet18.pt"));
        int masks = MaskingHelpers.PruneHalfOfEveryConv(pruned);

        var cases = new List<(string Weights, nn.Module<Tensor, Tensor> Model)>();
        foreach (var (name, model) in new[] { ("dense", dense), ("pruned", pruned) })
            foreach (var ext in new[] { ".pt", ".safetensors" })
            {
                var path = Path.Combine(Dir, name + ext);
                StateDictIO.Save(model, path);
                cases.Add((path, model));
            }

        var spec = cases.Select((c, i) => new Dictionary<string, object>
        {
            ["arch"] = "resnet18", ["weights"] = c.Weights, ["input"] = inputPath, ["input_shape"] = inputShape,
            ["logits_out"] = Path.Combine(Dir, $"logits{i}.bin"),
        }).ToList();
        var specPath = Path.Combine(Dir, "spec.json");
        File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
        var output = PythonTorch.RunFixtureScript("check_roundtrip.py", specPath);
        TestContext.Out.WriteLine(output);
        Assert.That(output, Does.Contain($"{masks} masks checked"));

        for (int i = 0; i < cases.Count; i++)
        {
            var model = cases[i].Model;
            model.eval();
            using var noGrad = torch.no_grad();
            using var ours = model.forward(x);
            using var theirs = ReferenceData.ReadFloats((string)spec[i]["logits_out"], ours.shape);
            double diff = ReferenceData.MaxAbsDiff(ours, theirs);
            TestContext.Out.WriteLine($"{Path.GetFileName(cases[i].Weights)}: max |ours - PyTorch| = {diff:E2}");
            Assert.That(diff, Is.LessThan(1e-4), cases[i].Weights);
        }
    }
}
