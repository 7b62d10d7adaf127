// Federated identity credentials: each OMEGA service account (and KEDA's operator) may exchange
// its Kubernetes token, issued by the cluster's OIDC issuer, for its managed identity's token.
// Written one at a time: concurrent writes to one identity's credentials fail.
param appsIdentityName string
param kedaIdentityName string
param oidcIssuerUrl string
param appNamespace string
param serviceAccounts array

resource apps 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: appsIdentityName
}

resource keda 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: kedaIdentityName
}

@batchSize(1)
resource appCredentials 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = [
  for account in serviceAccounts: {
    parent: apps
    name: 'sa-${account}'
    properties: {
      issuer: oidcIssuerUrl
      subject: 'system:serviceaccount:${appNamespace}:${account}'
      audiences: ['api://AzureADTokenExchange']
    }
  }
]

resource kedaCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: keda
  name: 'keda-operator'
  properties: {
    issuer: oidcIssuerUrl
    subject: 'system:serviceaccount:kube-system:keda-operator'
    audiences: ['api://AzureADTokenExchange']
  }
}
