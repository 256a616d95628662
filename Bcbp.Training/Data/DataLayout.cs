using Bcbp.Training.Config;

namespace Bcbp.Training.Data;

/// <summary>
/// Where a dataset's files may sit under <c>data.root</c>: the folder itself, or the subfolder torchvision's
/// datasets (<c>MNIST/raw</c>, <c>FashionMNIST/raw</c>, <c>cifar-10-batches-py</c>, ...) or the original archives
/// (<c>cifar-10-batches-bin</c>, ...) create, so <c>data.root</c> can be the folder a torchvision user passes as
/// <c>root=</c>.
/// </summary>
public static class DataLayout
{
    /// <summary>Subfolders searched, in order, per dataset ("" is data.root itself).</summary>
    public static IReadOnlyList<string> Subfolders(string dataset) => dataset switch
    {
        DatasetCatalog.FashionMnist => new[] { "", "raw", "FashionMNIST/raw" },
        DatasetCatalog.Mnist => new[] { "", "raw", "MNIST/raw", "mnist" },
        DatasetCatalog.Cifar10 => new[] { "", CifarLayout.Cifar10Binary.Folder, CifarLayout.Cifar10Python.Folder },
        DatasetCatalog.Cifar100 => new[] { "", CifarLayout.Cifar100Binary.Folder, CifarLayout.Cifar100Python.Folder },
        _ => new[] { "" },
    };

    /// <summary>The folders <see cref="Subfolders"/> names under <paramref name="root"/>.</summary>
    public static IEnumerable<string> Folders(string root, string dataset)
        => Subfolders(dataset).Select(s => s.Length == 0 ? root : Path.Combine(root, s));

    /// <summary>"A, B or C" of the folders searched, for errors.</summary>
    public static string Describe(string root, string dataset)
    {
        var all = Folders(root, dataset).Select(f => $"'{f}'").ToList();
        return all.Count == 1 ? all[0] : string.Join(", ", all.Take(all.Count - 1)) + " or " + all[^1];
    }
}
