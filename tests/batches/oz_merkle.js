// The reference: npm's @openzeppelin/merkle-tree builds the tree of the values read on stdin.
// stdin: {"values": [[recordId, customerId, kind, outcome, contentHash], ...]}
// stdout: {"root": ..., "dump": <StandardMerkleTree.dump()>, "proofs": [<getProof(i)> for each value],
//          "verified": [<StandardMerkleTree.verify(root, encoding, value, proof)> for each value]}
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

const ENCODING = ["bytes32", "uint256", "uint8", "uint8", "bytes32"];
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { values } = JSON.parse(input);
  const tree = StandardMerkleTree.of(values, ENCODING);
  const proofs = values.map((_, i) => tree.getProof(i));
  const verified = values.map((value, i) => StandardMerkleTree.verify(tree.root, ENCODING, value, proofs[i]));
  const reloaded = StandardMerkleTree.load(JSON.parse(JSON.stringify(tree.dump())));
  process.stdout.write(JSON.stringify({ root: reloaded.root, dump: tree.dump(), proofs, verified }));
});
