using System.Text.Json.Nodes;
using Bcbp.Training.Json;

namespace Bcbp.Tests.Json;

public class JsonTreeTests
{
    [Test]
    public void MergeReplacesScalarsAndArraysAndMergesObjects()
    {
        var a = JsonNode.Parse("""{ "train": { "epochs": 5, "lr": 0.1 }, "prune": null, "exclude": ["conv1", "fc"] }""")!.AsObject();
        var b = JsonNode.Parse("""{ "train": { "epochs": 0 }, "prune": { "method": "bcbp" }, "exclude": ["fc"] }""")!.AsObject();
        var m = JsonTree.Merge(a, b);
        Assert.That(JsonTree.Canonical(m), Is.EqualTo("""{"exclude":["fc"],"prune":{"method":"bcbp"},"train":{"epochs":0,"lr":0.1}}"""));
        Assert.That(JsonTree.Get(a, "train.epochs")!.GetValue<int>(), Is.EqualTo(5), "inputs stay unchanged");
    }

    [Test]
    public void SetCreatesObjectsAndRefusesToDescendIntoScalars()
    {
        var o = new JsonObject { ["prune"] = null, ["seed"] = 1 };
        JsonTree.Set(o, "prune.schedule.kind", "cubic");
        Assert.That(JsonTree.Get(o, "prune.schedule.kind")!.GetValue<string>(), Is.EqualTo("cubic"));
        Assert.That(() => JsonTree.Set(o, "seed.x", 1), Throws.ArgumentException.With.Message.Contains("'seed'"));
    }

    [Test]
    public void HashIgnoresKeyOrderAndNumberSpellingButNotValues()
    {
        var h1 = JsonTree.Hash(JsonNode.Parse("""{ "a": 0.5, "b": { "c": 1, "d": "x" } }"""));
        var h2 = JsonTree.Hash(JsonNode.Parse("""{ "b": { "d": "x", "c": 1.0 }, "a": 0.50 }"""));
        var h3 = JsonTree.Hash(JsonNode.Parse("""{ "b": { "d": "x", "c": 2 }, "a": 0.5 }"""));
        Assert.That(h1, Is.EqualTo(h2));
        Assert.That(h1, Is.Not.EqualTo(h3));
    }
}
