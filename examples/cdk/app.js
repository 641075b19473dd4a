// The line-3 gateways' connector as a CDK app; `bash scripts/cdk-synth examples/cdk` writes
// cdk.out/Line3Stack.template.json (aws-cdk-lib from npm). Validate what it made with
//   dadc validate examples/cdk/cdk.out/*.template.json
const cdk = require("aws-cdk-lib");
const gg = require("aws-cdk-lib/aws-greengrass");

const app = new cdk.App({ outdir: process.env.CDK_OUTDIR || "cdk.out", analyticsReporting: false });
const stack = new cdk.Stack(app, "Line3Stack");
new gg.CfnConnectorDefinition(stack, "AppConnectors", {
  name: "line3-app",
  initialVersion: {
    connectors: [{
      id: "DockerApp",
      connectorArn: cdk.Fn.join("", ["arn:", cdk.Aws.PARTITION, ":greengrass:", cdk.Aws.REGION,
        "::/connectors/DockerApplicationDeployment/versions/7"]),
      parameters: {
        DockerComposeFileS3Bucket: "line3-compose-files",
        DockerComposeFileS3Key: "line3/docker-compose.yml",
        DockerComposeFileDestinationPath: "/srv/line3/compose",
        DockerUserId: "1234",
        AWSSecretsArnList: JSON.stringify(["arn:aws:secretsmanager:eu-west-1:123456789012:secret:line3-registry-AbCdEf"]),
        DockerOfflineMode: "true",
      },
    }],
  },
});
app.synth();
