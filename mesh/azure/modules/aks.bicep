// AKS with the managed add-ons OMEGA relies on: Istio (service mesh profile, external ingress
// gateway), KEDA (workload autoscaler profile), workload identity + OIDC issuer, the Key Vault
// Secrets Store CSI driver, Container Insights; Azure CNI overlay with Cilium network policy;
// Entra ID authentication with Azure RBAC and no local accounts.
param name string
param location string
@allowed(['Free', 'Standard'])
param tier string
param kubernetesVersion string
param istioRevision string
param systemNodeVmSize string
param systemNodeCount int
param appNodeVmSize string
param appNodeMinCount int
param appNodeMaxCount int
param zones array
param adminGroupObjectIds array
param logAnalyticsWorkspaceId string
param acrName string
param tags object

resource cluster 'Microsoft.ContainerService/managedClusters@2024-10-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Base', tier: tier }
  identity: { type: 'SystemAssigned' }
  properties: {
    kubernetesVersion: kubernetesVersion
    dnsPrefix: name
    disableLocalAccounts: true
    aadProfile: {
      managed: true
      enableAzureRBAC: true
      adminGroupObjectIDs: adminGroupObjectIds
    }
    oidcIssuerProfile: { enabled: true }
    securityProfile: {
      workloadIdentity: { enabled: true }
      imageCleaner: { enabled: true, intervalHours: 168 }
    }
    workloadAutoScalerProfile: {
      keda: { enabled: true }
    }
    serviceMeshProfile: {
      mode: 'Istio'
      istio: {
        revisions: [istioRevision]
        components: {
          ingressGateways: [
            { mode: 'External', enabled: true }
          ]
        }
      }
    }
    addonProfiles: {
      azureKeyvaultSecretsProvider: {
        enabled: true
        config: { enableSecretRotation: 'true', rotationPollInterval: '2m' }
      }
      omsagent: {
        enabled: true
        config: { logAnalyticsWorkspaceResourceID: logAnalyticsWorkspaceId, useAADAuth: 'true' }
      }
    }
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
      loadBalancerSku: 'standard'
    }
    autoUpgradeProfile: {
      upgradeChannel: 'patch'
      nodeOSUpgradeChannel: 'NodeImage'
    }
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        count: systemNodeCount
        vmSize: systemNodeVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        availabilityZones: zones
        nodeTaints: ['CriticalAddonsOnly=true:NoSchedule']
      }
      {
        name: 'apps'
        mode: 'User'
        count: appNodeMinCount
        minCount: appNodeMinCount
        maxCount: appNodeMaxCount
        enableAutoScaling: true
        vmSize: appNodeVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        availabilityZones: zones
      }
    ]
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: acrName
}

// AcrPull for the kubelet identity, so nodes pull the OMEGA image without a pull secret.
resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, cluster.id, 'acrpull')
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
    principalId: cluster.properties.identityProfile.kubeletidentity.objectId
    principalType: 'ServicePrincipal'
  }
}

output name string = cluster.name
output oidcIssuerUrl string = cluster.properties.oidcIssuerProfile.issuerURL
