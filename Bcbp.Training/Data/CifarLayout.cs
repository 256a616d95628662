using Bcbp.Training.Config;

namespace Bcbp.Training.Data;

/// <summary>
/// One way CIFAR is stored: the archive's binary batches (<c>cifar-10-batches-bin</c>, <c>cifar-100-binary</c>) or
/// torchvision's download, the python pickles (<c>cifar-10-batches-py</c>, <c>cifar-100-python</c>).
/// </summary>
/// <param name="Folder">The folder the archive unpacks to.</param>
/// <param name="Train">Training files, in order.</param>
/// <param name="Test">Test files.</param>
/// <param name="Pickle">Python pickles (<see cref="CifarPickleReader"/>) rather than binary records (<see cref="CifarReader"/>).</param>
public sealed record CifarLayout(string Folder, string[] Train, string[] Test, bool Pickle)
{
    public static readonly CifarLayout Cifar10Binary = new("cifar-10-batches-bin", CifarReader.Cifar10Train, CifarReader.Cifar10Test, false);
    public static readonly CifarLayout Cifar10Python = new("cifar-10-batches-py",
        CifarReader.Cifar10Train.Select(f => Path.GetFileNameWithoutExtension(f)).ToArray(), new[] { "test_batch" }, true);
    public static readonly CifarLayout Cifar100Binary = new("cifar-100-binary", CifarReader.Cifar100Train, CifarReader.Cifar100Test, false);
    public static readonly CifarLayout Cifar100Python = new("cifar-100-python", new[] { "train" }, new[] { "test" }, true);

    /// <summary>
    /// Reads a split from the first folder of <see cref="DataLayout.Folders"/> that holds its first file in either
    /// layout (binary first); the error names every file and folder looked for.
    /// </summary>
    public static CifarSplit Read(string root, bool cifar100, bool test)
    {
        string dataset = cifar100 ? DatasetCatalog.Cifar100 : DatasetCatalog.Cifar10;
        var layouts = cifar100 ? new[] { Cifar100Binary, Cifar100Python } : new[] { Cifar10Binary, Cifar10Python };
        foreach (var folder in DataLayout.Folders(root, dataset))
            foreach (var layout in layouts)
            {
                var files = test ? layout.Test : layout.Train;
                if (!File.Exists(Path.Combine(folder, files[0]))) continue;
                return layout.Pickle ? CifarPickleReader.Read(folder, files, cifar100) : CifarReader.Read(folder, files, cifar100);
            }
        var (name, url) = cifar100
            ? ("CIFAR-100", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz")
            : ("CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
        var b = test ? layouts[0].Test[0] : layouts[0].Train[0];
        var p = test ? layouts[1].Test[0] : layouts[1].Train[0];
        throw new FileNotFoundException(
            $"{name} not found: looked for {b} (the binary version, {layouts[0].Folder}/) and {p} (torchvision's python pickles, " +
            $"{layouts[1].Folder}/) in {DataLayout.Describe(root, dataset)}. Fix: set data.root to the folder torchvision " +
            $"downloaded to (torchvision.datasets.{name.Replace("-", "")}(root, download=True)), or download {url}, " +
            $"run `tar xzf {url.Split('/')[^1]}` and set data.root to the folder that holds {layouts[0].Folder}/. See docs/data.md.",
            Path.Combine(root, b));
    }
}
