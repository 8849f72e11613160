// The Function App on the Flex Consumption plan (FC1): Python 3.11, deployed from a blob container
// with the user-assigned identity, every app setting of shared/settings.py set here or listed as
// deliberately unset in docs/deploy.md (tests/unit/test_settings_consistency.py holds them together).
param name string
param planName string
param location string
param tags object

@description('Resource id of the app\'s user-assigned managed identity.')
param identityResourceId string

@description('Client id of that identity (what DefaultAzureCredential and the host pick it by).')
param identityClientId string

param storageAccountName string
param deploymentContainerUrl string
param applicationInsightsConnectionString string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

param microsoftClientId string
param microsoftClientSecretUri string
param tokenEncryptionKeysUri string
param linkSigningKeyUri string
param publicBaseUrl string = ''
param corsAllowedOrigins string = ''
param backfillSchedule string = '0 */5 * * * *'

param enableAcsEmail bool
@description('Header a trusted proxy puts the client address in (X-Azure-ClientIP behind the optional Front Door).')
param clientIpHeader string = ''
param acsEndpoint string = ''
param acsSenderAddress string = ''
param smtpHost string = ''
param smtpPort string = '587'
param smtpUsername string = ''
param smtpPasswordSecretUri string = ''
param smtpStartTls string = 'true'
param mailFrom string = ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy `services.api` of azure.yaml to by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references are resolved with the user-assigned identity, not a system-assigned one.
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      // FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not app settings on Flex
      // Consumption: the runtime is declared here.
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No publishing with user names and passwords: azd deploys with an Entra token.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

var effectivePublicBaseUrl = !empty(publicBaseUrl) ? publicBaseUrl : 'https://${site.properties.defaultHostName}'

// ------------------------------------------------------------------------------------ app settings
// Every *AppSettings variable below is merged into the one `appsettings` resource. Secrets are Key
// Vault references only.
var baseAppSettings = {
  // Host storage and the app's tables/queues, with the managed identity (no connection string).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // DefaultAzureCredential (storage, ACS) picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
  // Telemetry, sent with the identity (local auth is off on the Application Insights resource).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PUBLIC_BASE_URL: effectivePublicBaseUrl
  CORS_ALLOWED_ORIGINS: corsAllowedOrigins
  MICROSOFT_CLIENT_ID: microsoftClientId
  MICROSOFT_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${microsoftClientSecretUri})'
  // Explicit, so a deployed app can never point at the local Microsoft stand-in.
  MICROSOFT_AUTHORITY_HOST: 'https://login.microsoftonline.com'
  GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0'
  TOKEN_ENCRYPTION_KEYS: '@Microsoft.KeyVault(SecretUri=${tokenEncryptionKeysUri})'
  LINK_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${linkSigningKeyUri})'
  BACKFILL_SCHEDULE: backfillSchedule
  CLIENT_IP_HEADER: clientIpHeader
  MAIL_TRANSPORT: enableAcsEmail ? 'acs' : 'smtp'
  // ACS: the managed domain's DoNotReply sender unless mailFrom names one of a custom domain you linked.
  MAIL_FROM: !empty(mailFrom) ? mailFrom : acsSenderAddress
}

// Azure Communication Services Email, reached with the managed identity (no ACS_EMAIL_ACCESS_KEY).
var acsAppSettings = enableAcsEmail ? {
  ACS_EMAIL_ENDPOINT: acsEndpoint
} : {}

// An SMTP relay of your own instead of ACS.
var smtpAppSettings = enableAcsEmail ? {} : {
  SMTP_HOST: smtpHost
  SMTP_PORT: smtpPort
  SMTP_USERNAME: smtpUsername
  SMTP_STARTTLS: smtpStartTls
}

var smtpPasswordAppSettings = (!enableAcsEmail && !empty(smtpPasswordSecretUri)) ? {
  SMTP_PASSWORD: '@Microsoft.KeyVault(SecretUri=${smtpPasswordSecretUri})'
} : {}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(baseAppSettings, acsAppSettings, smtpAppSettings, smtpPasswordAppSettings)
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
output publicBaseUrl string = effectivePublicBaseUrl
