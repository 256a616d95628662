using System.Text.RegularExpressions;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.Architecture;

/// <summary>
/// The namespaces of Bcbp.Training form one order (docs/architecture.md): a namespace may use its own layer and the
/// layers below it, never one above. Read from the compiled assembly, so every reference counts, however it is written.
/// </summary>
public class LayerTests
{
    /// <summary>Bottom to top. A new folder gets a place here (and in docs/architecture.md).</summary>
    static readonly string[] Order =
    {
        "Json", "Backend", "Distributed", "Config", "Data", "Logging", "Fitting", "Pruning", "Costs", "Plots", "Runs", "Inference", "Shrink", "Export",
        "Suites", "Reports", "Cli",
    };

    const string Root = "Bcbp.Training";

    static IReadOnlyList<TypeReference> References() =>
        TypeReferences.Read(typeof(Bcbp.Training.Config.ExperimentConfig).Assembly.Location);

    /// <summary>Bcbp.Training.Pruning.Layers -> Pruning; null outside Bcbp.Training (Program, compiler helpers).</summary>
    static string? LayerOf(string ns) =>
        ns.StartsWith(Root + ".", StringComparison.Ordinal) ? ns[(Root.Length + 1)..].Split('.')[0] : null;

    [Test]
    public void EveryNamespaceHasAPlaceInTheOrder()
    {
        var layers = typeof(Bcbp.Training.Config.ExperimentConfig).Assembly.GetTypes()
            .Select(t => t.Namespace ?? "").Select(LayerOf).OfType<string>().Distinct().Order().ToList();
        Assert.That(layers.Except(Order), Is.Empty, "folders of Bcbp.Training missing from LayerTests.Order");
        Assert.That(Order.Except(layers), Is.Empty, "LayerTests.Order names a folder Bcbp.Training does not have");
    }

    [Test]
    public void NoReferencePointsUpTheOrder()
    {
        var up = References()
            .Where(r => LayerOf(r.FromNamespace) is { } from && LayerOf(r.ToNamespace) is { } to
                        && Array.IndexOf(Order, to) > Array.IndexOf(Order, from))
            .Select(r => $"{r.From} uses {r.To} ({LayerOf(r.FromNamespace)} is below {LayerOf(r.ToNamespace)})")
            .Order().ToList();
        Assert.That(up, Is.Empty);
    }

    [Test]
    public void NamespacesWithinALayerHaveNoCycle()
    {
        var edges = References().Where(r => r.FromNamespace != r.ToNamespace && LayerOf(r.FromNamespace) is not null
                                             && LayerOf(r.FromNamespace) == LayerOf(r.ToNamespace))
            .GroupBy(r => r.FromNamespace).ToDictionary(g => g.Key, g => g.Select(r => r.ToNamespace).Distinct().ToList());
        Assert.That(Cycles(edges), Is.Empty);
    }

    [Test]
    public void TheReaderSeesReferencesInSignaturesBodiesAndBaseTypes()
    {
        var refs = References().Select(r => (r.From, r.To)).ToHashSet();
        Assert.Multiple(() =>
        {
            // a static call in a method body
            Assert.That(refs, Does.Contain(("Bcbp.Training.Runs.TrainingRun", "Bcbp.Training.Pruning.PruningHook")));
            // an implemented interface
            Assert.That(refs, Does.Contain(("Bcbp.Training.Pruning.PruningHook", "Bcbp.Training.Fitting.ITrainingHook")));
            // a parameter type
            Assert.That(refs, Does.Contain(("Bcbp.Training.Suites.TrainingCellExecutor", "Bcbp.Training.Runs.RunOptions")));
            // a lambda's body (compiler-generated closure class, counted as its outer type)
            Assert.That(refs, Does.Contain(("Bcbp.Training.Runs.TrainingRun", "Bcbp.Training.Runs.MetricsWriter")));
        });
    }

    [Test]
    public void ArchitectureDocListsTheLayersInOrder()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "architecture.md"));
        var table = doc[doc.IndexOf("| Layer | Concept", StringComparison.Ordinal)..];
        table = table[..table.IndexOf("\n\n", StringComparison.Ordinal)];
        var layers = Regex.Matches(table, @"^\| `(\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.That(layers, Is.EqualTo(Order), "docs/architecture.md's layer table differs from LayerTests.Order");
    }

    /// <summary>Bcbp.Kernels has no order of folders to keep, but no two of its namespaces may use each other (directly
    /// or through others). (Bcbp.Models' root namespace and its architectures still use each other: ModelFactory builds
    /// them, they use TorchvisionInit.)</summary>
    [TestCase(typeof(Bcbp.Kernels.Formats.TileBalance))]
    public void NamespacesOfTheLowerAssembliesHaveNoCycle(Type inAssembly)
    {
        var edges = TypeReferences.Read(inAssembly.Assembly.Location)
            .Where(r => r.FromNamespace != r.ToNamespace && r.FromNamespace.Length > 0 && r.ToNamespace.Length > 0)
            .GroupBy(r => r.FromNamespace).ToDictionary(g => g.Key, g => g.Select(r => r.ToNamespace).Distinct().ToList());
        Assert.That(Cycles(edges), Is.Empty);
    }

    static List<string> Cycles(IReadOnlyDictionary<string, List<string>> edges)
    {
        var cycles = new List<string>();
        var done = new HashSet<string>();
        void Visit(string ns, List<string> path)
        {
            if (path.Contains(ns)) { cycles.Add(string.Join(" -> ", path.SkipWhile(p => p != ns).Append(ns))); return; }
            if (!done.Add(ns)) return;
            path.Add(ns);
            foreach (var next in edges.GetValueOrDefault(ns) ?? new List<string>()) Visit(next, path);
            path.RemoveAt(path.Count - 1);
        }
        foreach (var ns in edges.Keys.Order()) Visit(ns, new List<string>());
        return cycles;
    }
}
